package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"stationsync/internal/records"
	"stationsync/server"
)

// Documents staff attach to a decision (PROTOCOL.md §15.4): the decision
// form's file input. Each file is normalised as the station does and
// checked before anything is stored or decided; they go down to the
// village's station with the decision.

// maxDecisionUpload is what one decision form may carry: a few scans.
const maxDecisionUpload = 64 << 20

func mb(n int64) string { return fmt.Sprintf("%d MB", n>>20) }

// decisionDocuments reads and prepares the files of a parsed multipart
// decision form. msg is the Chinese refusal of the first bad file (or of
// too many), and then nothing is returned.
func (h *Handler) decisionDocuments(r *http.Request) (docs []server.DecisionDocument, msg string, err error) {
	if r.MultipartForm == nil {
		return nil, "", nil
	}
	fhs := r.MultipartForm.File["file"]
	if len(fhs) > records.MaxDecisionDocuments {
		return nil, fmt.Sprintf("一次最多随决定下发 %d 个文件，决定没有记录。", records.MaxDecisionDocuments), nil
	}
	for _, fh := range fhs {
		f, err := fh.Open()
		if err != nil {
			return nil, "", fmt.Errorf("decision document: %w", err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, "", fmt.Errorf("decision document: %w", err)
		}
		doc, err := server.PrepareDocument(r.Context(), fh.Filename, data, 0)
		var de *server.DocumentError
		if errors.As(err, &de) {
			return nil, de.Message + "（决定没有记录，请换一个文件后重新提交。）", nil
		}
		if err != nil {
			return nil, "", err
		}
		docs = append(docs, doc)
	}
	return docs, "", nil
}
