package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/records"
	"stationsync/syncproto"
)

// The cost of the observability on the push path. BenchmarkPushHandler
// pushes batches of 100 new persons through the whole handler (gate,
// signature, merge, group commit with synchronous=FULL), with the metrics
// off and on; BenchmarkObserveLayer measures the outer layer alone around
// a handler that does nothing, where its cost is not hidden by a commit.

func BenchmarkPushHandler(b *testing.B) {
	b.Run("metrics=off", func(b *testing.B) { benchPushHandler(b, false) })
	b.Run("metrics=on", func(b *testing.B) { benchPushHandler(b, true) })
}

func benchPushHandler(b *testing.B, metrics bool) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "county.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := New(st, quietLog)
	if metrics {
		srv.Metrics = NewMetrics(st)
		st.SetPushObserver(srv.Metrics)
	}
	h := srv.NewHandler()
	pub, key, _ := ed25519.GenerateKey(nil)
	code, err := st.CreateCode(ctx, village, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	stn, err := st.Enroll(ctx, code, pub, "h", "v")
	if err != nil {
		b.Fatal(err)
	}
	g := gen.New(1)
	const n = 100
	seal := func(first int) []byte {
		now := time.Now()
		bt := &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e", Village: village, SentHLC: uint64(hlc.Make(now.UnixMilli(), 0))}
		for i := range n {
			bt.Changes = append(bt.Changes, syncproto.Change{Seq: uint64(first + i), HLC: uint64(hlc.Make(now.UnixMilli(), uint16(i))),
				Kind: string(records.Person), ID: uuid.Must(uuid.NewV7()).String(), Op: string(records.OpUpsert), Fields: fieldsOf(g.Person(village)), By: "测试员", At: now.UnixMilli()})
		}
		env, err := syncproto.SealBatch(bt, key, syncproto.Fast)
		if err != nil {
			b.Fatal(err)
		}
		return env
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		env := seal(1 + i*n)
		req := httptest.NewRequest(http.MethodPost, "/v1/push", bytes.NewReader(env))
		req.Header.Set(syncproto.HeaderVersion, "1")
		req.Header.Set("Content-Type", syncproto.ContentEnvelope)
		req.Header.Set("Authorization", syncproto.SignRequest(key, stn.ID, http.MethodPost, "/v1/push", time.Now(), env))
		req.Header.Set(syncproto.HeaderContentSHA256, syncproto.BodyHash(env))
		rec := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("push %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}

func BenchmarkObserveLayer(b *testing.B) {
	st, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "county.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Pattern = "POST /v1/push"
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("{}"))
	})
	for _, c := range []struct {
		name string
		h    func(*Server) http.Handler
	}{
		{"none", func(*Server) http.Handler { return inner }},
		{"ids", func(s *Server) http.Handler { return s.observe(inner) }},
		{"ids+metrics", func(s *Server) http.Handler { s.Metrics = NewMetrics(st); return s.observe(inner) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := c.h(New(st, quietLog))
			b.ReportAllocs()
			for range b.N {
				req := httptest.NewRequest(http.MethodPost, "/v1/push", bytes.NewReader([]byte("x")))
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// BenchmarkStationStats: the stations gauges' one query at each scrape,
// over a province's 16,000 stations.
func BenchmarkStationStats(b *testing.B) {
	st, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "county.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UnixMilli()
	if _, err := st.db.W.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16000)
		INSERT INTO stations (id, village, public_key, enrolled_at, last_contact_at, pending)
		SELECT 'st_' || i, '340123101201', x'00', ?1, ?1 - (i % 20) * 3600000 * 12, (i * 37) % 2000 FROM n`, now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		s, err := st.StationStats(context.Background())
		if err != nil || s.Backlog0+s.Backlog1To100+s.Backlog101To1000+s.BacklogGt1000 != 16000 {
			b.Fatalf("%+v %v", s, err)
		}
	}
}
