package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"stationsync/internal/photo"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// Documents a decision carries down (PROTOCOL.md §15.4): staff attach a
// return notice or an approval letter to a decision, the county keeps the
// file as it keeps the stations' (normalised like the station's, in the
// blob store and in files), and the application's decision_documents names
// it, so that the village's station fetches it (§15.5).

// DecisionDocument is a file normalised and ready to go with a decision.
type DecisionDocument struct {
	Name string // the file's name as staff chose it, for messages only
	Hash string
	Type string // image/jpeg, image/png or application/pdf
	Data []byte
}

// DocumentError says why a file cannot go with a decision, in Chinese.
type DocumentError struct{ Message string }

func (e *DocumentError) Error() string { return e.Message }

// PrepareDocument normalises data as the station does (internal/photo:
// photos scaled and stripped of metadata, PDFs kept as they are) and holds
// it to maxSize (0: syncproto.DefaultMaxFileSize). A refusal is a
// *DocumentError naming the file. Nothing is stored.
func PrepareDocument(ctx context.Context, name string, data []byte, maxSize int64) (DecisionDocument, error) {
	if maxSize <= 0 {
		maxSize = syncproto.DefaultMaxFileSize
	}
	label := "「" + name + "」"
	if name == "" {
		label = "文件"
	}
	res, err := photo.Normalize(ctx, bytes.NewReader(data), photo.Options{})
	if err != nil {
		if pe, ok := err.(*photo.Error); ok {
			return DecisionDocument{}, &DocumentError{Message: label + "不能随决定下发：" + pe.Message}
		}
		return DecisionDocument{}, fmt.Errorf("prepare decision document: %w", err)
	}
	if int64(len(res.Data)) > maxSize {
		return DecisionDocument{}, &DocumentError{Message: fmt.Sprintf("%s太大（%s），随决定下发的文件不能超过 %s；请缩小或分成几份后再试。", label, mib(int64(len(res.Data))), mib(maxSize))}
	}
	sum := sha256.Sum256(res.Data)
	return DecisionDocument{Name: name, Hash: hex.EncodeToString(sum[:]), Type: res.Type, Data: res.Data}, nil
}

// StoreDocuments puts the documents' bytes into the county's blob store in
// dir, where the stations' files are. A file stored for a decision that is
// then refused is named by no record: nobody can see or fetch it, and the
// same bytes attached again later are the same file.
func StoreDocuments(ctx context.Context, dir string, docs []DecisionDocument) error {
	if len(docs) == 0 {
		return nil
	}
	cf, err := openCountyFiles(dir)
	if err != nil {
		return fmt.Errorf("decision documents: %w", err)
	}
	for _, d := range docs {
		got, _, err := cf.main.Put(ctx, bytes.NewReader(d.Data), int64(len(d.Data)))
		if err != nil {
			return fmt.Errorf("store decision document: %w", err)
		}
		if got != d.Hash {
			return fmt.Errorf("decision document stored as %s, not %s", got, d.Hash)
		}
	}
	return nil
}

// withDocuments adds the decision's documents to the application's list
// (in fields, for the merge) and notes each in files, in the decision's
// transaction tx: the decision, its list and the files commit together.
func withDocuments(tx *sql.Tx, d Decision, current string, fields records.Fields, now int64) error {
	if len(d.Documents) == 0 {
		return nil
	}
	var list []string
	if current != "" {
		json.Unmarshal([]byte(current), &list)
	}
	for _, doc := range d.Documents {
		if !slices.Contains(list, doc.Hash) {
			list = append(list, doc.Hash)
		}
		if _, err := tx.Exec(`INSERT INTO files (hash, size, type, station, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			doc.Hash, len(doc.Data), doc.Type, CountyOrigin, now); err != nil {
			return fmt.Errorf("note decision document: %w", err)
		}
	}
	raw, _ := json.Marshal(list)
	f := records.Fields{"decision_documents": raw}
	if err := records.Validate(records.Application, f, false); err != nil {
		return fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	fields["decision_documents"] = raw
	return nil
}
