package multiserver

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
	"stationsync/internal/testproc"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// TestProcessesBehindRoundRobin: two `county-server serve --db`
// processes on one PostgreSQL database and one --data directory, a
// round-robin front with no health checks, and four `station-agent run`
// processes (two a village) syncing through it while their cadres keep
// saving beside them. Every batch and every pull may go to either
// server. Once the stations are done, the county holds each station's
// changes once (hwm, change ids, one revision a change), every record
// saved with its last fields, and every station exactly the county's
// records of its village.
func TestProcessesBehindRoundRobin(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.NewDatabase(t) // first: dropped after the processes end
	data := filepath.Join(t.TempDir(), "county")
	cs, err := server.OpenPostgres(ctx, pg, data, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	var servers []*testsupport.CountyProc
	for range 2 {
		c := testsupport.NewCountyProc(t, bin.Server, "LOG_LEVEL=info", "STATIONSYNC_DB="+pg)
		c.Data = data
		c.Start()
		servers = append(servers, c)
	}
	front := testsupport.NewRoundRobin(t, servers...)

	vs := villages(2)
	type site struct {
		proc  *testsupport.StationProc
		cadre *testsupport.Station // the station's database, opened beside the service as the pages do
		run   *testproc.Proc
		want  map[string]records.Fields
		saves int
	}
	var sites []*site
	for i := range 4 {
		v := vs[i%2]
		code, err := cs.CreateCode(ctx, v, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sp := testsupport.NewStationProc(t, bin.Agent, v)
		sp.Enroll(front.URL, code)
		cadre := testsupport.OpenStation(t, sp.Data, agent.Config{})
		sites = append(sites, &site{proc: sp, cadre: cadre, want: map[string]records.Fields{}})
	}
	const rounds, perRound = 8, 12
	var saveWG sync.WaitGroup
	for i, s := range sites {
		s.run = testproc.Start(t, s.proc.Log, []string{"LOG_LEVEL=info"}, bin.Agent, "run", "--interval", "200ms", "--data", s.proc.Data)
		saveWG.Go(func() {
			g := gen.New(int64(300 + i))
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			var persons []string
			save := func(kind records.Kind, id string, f records.Fields) string {
				id, err := s.cadre.Store.Save(ctx, kind, id, f, "孙村干部")
				if err != nil {
					t.Errorf("station %d: save: %v", i, err)
					return ""
				}
				if s.want[id] == nil {
					s.want[id] = records.Fields{}
				}
				for k, v := range f {
					s.want[id][k] = v
				}
				s.saves++
				return id
			}
			for range rounds {
				for range perRound {
					switch r := rng.IntN(10); {
					case len(persons) == 0 || r < 3:
						persons = append(persons, save(records.Person, "", testsupport.Fields(g.Person(s.proc.Village))))
					case r < 8:
						save(records.Visit, "", testsupport.Fields(g.Visit(persons[rng.IntN(len(persons))], time.Now())))
					default:
						save(records.Person, persons[rng.IntN(len(persons))], testsupport.EditFields(rng))
					}
				}
				time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
			}
		})
	}
	saveWG.Wait()
	if t.Failed() {
		return
	}
	// Done when every outbox is empty; the services then stop and each
	// station syncs once more, so that it also holds what the other
	// station of its village pushed last.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pending := 0
		for _, s := range sites {
			pending += s.cadre.Pending(t)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes still queued after 2 minutes", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, s := range sites {
		s.run.Stop()
	}
	for _, s := range sites {
		s.proc.SyncUntilDone(5)
	}
	saves := 0
	for _, s := range sites {
		saves += s.saves
	}
	t.Logf("4 stations, %d saves; the front sent %d requests to server 1, %d to server 2, %d failed", saves, front.Served[0].Load(), front.Served[1].Load(), front.Failed.Load())
	if front.Served[0].Load() == 0 || front.Served[1].Load() == 0 {
		t.Errorf("a server got no request: %d and %d", front.Served[0].Load(), front.Served[1].Load())
	}

	// The county's records against what each station saved, once, and
	// each station against the county.
	db := cs.DB().R
	for i, s := range sites {
		id := s.proc.ID
		var hwm, ids, distinct, recs, revs int64
		if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(hwm), 0) FROM station_epochs WHERE station = ?`, id).Scan(&hwm); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT (c.epoch_id, c.seq)) FROM change_ids c JOIN station_epochs e ON e.id = c.epoch_id WHERE e.station = ?`, id).Scan(&ids, &distinct); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(rev), 0) FROM (SELECT rev FROM persons WHERE created_origin = ? UNION ALL SELECT rev FROM visits WHERE created_origin = ?) r`, id, id).Scan(&recs, &revs); err != nil {
			t.Fatal(err)
		}
		if hwm == 0 || ids != hwm || distinct != hwm || revs != hwm || recs != int64(len(s.want)) {
			t.Errorf("station %d (%s): hwm %d, %d change ids (%d distinct), %d records with %d revisions; want change ids = revisions = hwm, %d records",
				i, id, hwm, ids, distinct, recs, revs, len(s.want))
		}
		county := map[string]testsupport.Record{}
		for _, k := range []records.Kind{records.Person, records.Visit} {
			for _, r := range testsupport.CountyRecords(t, cs, k, s.proc.Village) {
				county[r.ID] = r
			}
		}
		bad := 0
		for rid, f := range s.want {
			r, ok := county[rid]
			if !ok {
				if bad++; bad <= 5 {
					t.Errorf("station %d: record %s lost: not at the county", i, rid)
				}
				continue
			}
			for k, v := range f {
				if !records.Equal(r.Fields[k], v) {
					if bad++; bad <= 5 {
						t.Errorf("station %d: record %s field %s = %s at the county, saved %s", i, rid, k, r.Fields[k], v)
					}
				}
			}
		}
		var diffs []string
		for _, k := range records.Kinds {
			diffs = append(diffs, testsupport.CompareStation(s.proc.Village, testsupport.CountyRecords(t, cs, k, s.proc.Village), s.cadre.Records(t, k))...)
		}
		testsupport.Report(t, diffs)
		s.proc.CheckDone()
	}
	checkFeed(t, cs)
	for _, c := range servers {
		c.Stop()
		c.CheckLog()
	}
}

// checkFeed fails the test if two records share a feed position.
func checkFeed(t *testing.T, cs *server.CountyStore) {
	t.Helper()
	var n, distinct int
	err := cs.DB().R.QueryRow(`SELECT count(*), count(DISTINCT feed_seq) FROM (SELECT feed_seq FROM persons
		UNION ALL SELECT feed_seq FROM visits UNION ALL SELECT feed_seq FROM applications UNION ALL SELECT feed_seq FROM disclosures) f`).Scan(&n, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if n != distinct {
		t.Errorf("county: %d records at %d feed positions", n, distinct)
	}
}
