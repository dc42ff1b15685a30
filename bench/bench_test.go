package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

// Each benchmark builds its station and county afresh for every iteration,
// outside the timer, and reports the median of its iterations for times
// (the machine may be shared; a median shrugs off one disturbed run) and
// the mean for byte counts, which hardly vary. ns/op is suppressed: the
// custom figures are the result.

// BenchmarkCatchUpLoopback: a station that was offline for a long time
// holds a backlog of 10,000 visits and syncs them to the county over
// loopback HTTP. The people they refer to went up in an earlier round, so
// the measured round is the visits' push (and the pull that follows it, as
// in every real round). Reported: wall seconds, records per second end to
// end, CPU seconds of the whole process (station and county share it),
// bytes on the wire per record (TCP payload both ways: HTTP heads, bodies)
// and how that compares with `zstd -19` of the same records as NDJSON.
func BenchmarkCatchUpLoopback(b *testing.B) {
	const persons, visits = 300, 10_000
	ctx := context.Background()
	var wall, cpu durations
	var up, down, ref int64
	refName := ""
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		c := newCounty(b, dir)
		a := newStation(b, dir, c, c.http.URL)
		g := gen.New(seed)
		by := cadres(g)
		ids := savePersons(b, a, g, by, persons)
		res, err := a.SyncOnce(ctx)
		must(b, err, "first sync")
		if res.Pushed != persons {
			b.Fatalf("first sync pushed %d, want %d", res.Pushed, persons)
		}
		saveVisits(b, a, g, by, ids, visits)
		nd, n := visitsNDJSON(b, a)
		if n != visits {
			b.Fatalf("station holds %d visits, want %d", n, visits)
		}
		size, name := zstd19(b, nd)
		ref += int64(size)
		refName = name

		c.wire.reset()
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		res, err = a.SyncOnce(ctx)
		wall, cpu = append(wall, time.Since(start)), append(cpu, cpuTime()-cpu0)
		b.StopTimer()
		up += c.wire.up.Load()
		down += c.wire.down.Load()
		must(b, err, "catch-up sync")
		if res.Pushed != visits || res.Rejected != 0 {
			b.Fatalf("catch-up pushed %d (%d rejected), want %d", res.Pushed, res.Rejected, visits)
		}
		if got := c.count(b, records.Visit); got != visits {
			b.Fatalf("county holds %d visits, want %d", got, visits)
		}
	}
	recs := float64(b.N * visits)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(wall.median().Seconds(), "s")
	b.ReportMetric(visits/wall.median().Seconds(), "records/s")
	b.ReportMetric(cpu.median().Seconds(), "cpu-s")
	b.ReportMetric(float64(up+down)/recs, "wire-B/record")
	b.ReportMetric(float64(up)/recs, "up-B/record")
	b.ReportMetric(float64(down)/recs, "down-B/record")
	b.ReportMetric(float64(ref)/recs, refName+"-B/record")
	b.ReportMetric(float64(up+down)/float64(ref), "wire/"+refName)
}

// Benchmark2GLink: 200 visits go up through an emulated 2G link, 64 kbit/s
// each way and 300 ms one-way latency. Measured: the SyncOnce that pushes
// them, from its first byte to the county's last acknowledgement (and the
// short pull that ends the round). The people are at the county already,
// sent over the same link in an earlier round.
func Benchmark2GLink(b *testing.B) {
	const persons, visits = 50, 200
	link2G := linkem.Options{Latency: 300 * time.Millisecond, UpBytesPerSec: 8000, DownBytesPerSec: 8000}
	ctx := context.Background()
	var wall durations
	var up, down int64
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		c := newCounty(b, dir)
		p, err := linkem.New(c.http.Listener.Addr().String(), link2G)
		must(b, err, "link emulator")
		b.Cleanup(func() { p.Close() })
		a := newStation(b, dir, c, p.URL())
		g := gen.New(seed)
		by := cadres(g)
		ids := savePersons(b, a, g, by, persons)
		_, err = a.SyncOnce(ctx)
		must(b, err, "first sync")
		saveVisits(b, a, g, by, ids, visits)
		// Drop the keep-alive connection of that round: this one starts
		// on a new connection, as after a minute of idle coverage. (The
		// emulator adds no delay to the TCP handshake itself.)
		p.Set(linkem.Options{Down: true})
		time.Sleep(100 * time.Millisecond)
		p.Set(link2G)
		before := p.Stats()

		b.StartTimer()
		start := time.Now()
		res, err := a.SyncOnce(ctx)
		wall = append(wall, time.Since(start))
		b.StopTimer()
		after := p.Stats()
		up += after.UpBytes - before.UpBytes
		down += after.DownBytes - before.DownBytes
		must(b, err, "sync over 2G")
		if res.Pushed != visits || res.Rejected != 0 {
			b.Fatalf("2G round pushed %d (%d rejected), want %d", res.Pushed, res.Rejected, visits)
		}
	}
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(wall.median().Seconds(), "s")
	b.ReportMetric(float64(up)/n, "up-B")
	b.ReportMetric(float64(down)/n, "down-B")
	b.ReportMetric(float64(up+down)/(n*visits), "wire-B/record")
}

// BenchmarkServerIngest: sealed batches of 1,000 visits, as a station sends
// them, are opened (signature, zstd, columns) and merged into the county's
// SQLite through the store's Push, without HTTP: 20 batches from one
// station, one after another. Reported: records per second for both steps
// (what the county's push handler does besides HTTP) and for the merge
// alone, and, in the same run, the same number of visits inserted straight
// into SQLite (visitCeiling) and the merge's share of that ceiling.
func BenchmarkServerIngest(b *testing.B) { benchIngest(b, onSQLite, 1, 20, 1000) }

// BenchmarkServerIngestPostgres: BenchmarkServerIngest on the county's
// PostgreSQL store (a fresh database on the test server, on this
// machine), its ceiling the same visits COPYed straight in.
func BenchmarkServerIngestPostgres(b *testing.B) { benchIngest(b, onPostgres, 1, 20, 1000) }

// BenchmarkServerIngestConcurrent: the same 20,000 visits from ten
// stations pushing at once, each its two batches in order — the county's
// load when many stations sync in the same minutes. Batches that arrive
// while another is written are merged in one transaction (group commit),
// and stations' batches are opened on the other core meanwhile.
func BenchmarkServerIngestConcurrent(b *testing.B) { benchIngest(b, onSQLite, 10, 2, 1000) }

// BenchmarkServerIngestConcurrentPostgres: the ten stations at once on
// the PostgreSQL store.
func BenchmarkServerIngestConcurrentPostgres(b *testing.B) { benchIngest(b, onPostgres, 10, 2, 1000) }

func benchIngest(b *testing.B, kind storeKind, stations, batches, perBatch int) {
	const persons = 300
	ctx := context.Background()
	var wall, merging, cpu, ceiling, rowCeiling durations
	type sender struct {
		st   *server.Station
		pub  ed25519.PublicKey
		envs [][]byte
	}
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		c := newCountyOn(b, dir, kind)
		g := gen.New(seed)
		by := cadres(g)
		clock := hlc.NewClock(time.Now, 0, 0)
		senders := make([]sender, stations)
		for si := range senders {
			pub, priv := newKey(b)
			st, err := c.store.Enroll(ctx, c.code(b), pub, "bench", "bench")
			must(b, err, "enrol")
			// The changes are what a station's outbox holds: one upsert per
			// record with every field, consecutive seqs, HLCs from its clock.
			epoch := strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
			seq := uint64(0)
			change := func(kind records.Kind, id string, rec map[string]any) syncproto.Change {
				seq++
				return syncproto.Change{
					Seq: seq, HLC: uint64(clock.Now()), Kind: string(kind), ID: id, Op: string(records.OpUpsert),
					Fields: fields(b, rec), By: by[int(seq)%len(by)], At: clock.Physical().UnixMilli(),
				}
			}
			batch := func(changes []syncproto.Change) *syncproto.Batch {
				return &syncproto.Batch{Version: syncproto.Version, Station: st.ID, Epoch: epoch, Village: village,
					SentHLC: uint64(clock.Now()), AgentVersion: "bench", Changes: changes}
			}
			// Each station's people went up in an earlier round.
			ids := make([]string, persons/stations)
			var pc []syncproto.Change
			for i := range ids {
				ids[i] = uuid.Must(uuid.NewV7()).String()
				pc = append(pc, change(records.Person, ids[i], g.Person(village)))
			}
			if _, err := c.store.Push(ctx, st, batch(pc)); err != nil {
				b.Fatal(err)
			}
			envs := make([][]byte, batches)
			for i := range envs {
				vc := make([]syncproto.Change, perBatch)
				for j := range vc {
					vc[j] = change(records.Visit, uuid.Must(uuid.NewV7()).String(), g.Visit(ids[(i*perBatch+j)%len(ids)], g.Date(visitsFrom, visitsTo)))
				}
				envs[i], err = syncproto.SealBatch(batch(vc), priv, syncproto.Best)
				must(b, err, "seal")
			}
			senders[si] = sender{st: st, pub: pub, envs: envs}
		}

		b.StartTimer()
		var merge atomic.Int64
		start, cpu0 := time.Now(), cpuTime()
		var wg sync.WaitGroup
		failed := make(chan error, stations)
		for _, sd := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, env := range sd.envs {
					e, _, err := syncproto.ParseEnvelope(env)
					if err == nil {
						var bt *syncproto.Batch
						if bt, err = e.Open(sd.pub); err == nil {
							t := time.Now()
							var res *syncproto.PushResult
							res, err = c.store.Push(ctx, sd.st, bt)
							merge.Add(int64(time.Since(t)))
							if err == nil && (len(res.Results) != perBatch || res.Results[0].Status != syncproto.Applied) {
								err = fmt.Errorf("push answered %d results, first %+v", len(res.Results), res.Results[0])
							}
						}
					}
					if err != nil {
						failed <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		wall, cpu = append(wall, elapsed), append(cpu, cpuTime()-cpu0)
		// Reported for one station only: with several, pushes overlap and
		// their times do not add up to the merge's.
		merging = append(merging, time.Duration(merge.Load()))
		b.StopTimer()
		close(failed)
		for err := range failed {
			b.Fatal(err)
		}
		if got, want := c.count(b, records.Visit), stations*batches*perBatch; got != want {
			b.Fatalf("county holds %d visits, want %d", got, want)
		}
		if stations == 1 {
			ceiling = append(ceiling, visitCeiling(b, kind, batches*perBatch, perBatch, false))
			if kind == onPostgres {
				rowCeiling = append(rowCeiling, visitCeiling(b, kind, batches*perBatch, perBatch, true))
			}
		}
	}
	recs := float64(stations * batches * perBatch)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(recs/wall.median().Seconds(), "records/s")
	if stations == 1 {
		b.ReportMetric(recs/merging.median().Seconds(), "merge-records/s")
		b.ReportMetric(recs/ceiling.median().Seconds(), "ceiling-records/s")
		b.ReportMetric(ceiling.median().Seconds()/merging.median().Seconds(), "merge/ceiling")
		if len(rowCeiling) > 0 {
			b.ReportMetric(recs/rowCeiling.median().Seconds(), "row-insert-records/s")
		}
	}
	b.ReportMetric(wall.median().Seconds(), "s")
	b.ReportMetric(cpu.median().Seconds(), "cpu-s")
}

// BenchmarkLocalWrite: the time a cadre waits for one visit to be saved at
// the station, on disk (synchronous=FULL) with its outbox entry, over
// 1,000 saves an iteration into a station that keeps its backlog.
func BenchmarkLocalWrite(b *testing.B) {
	const persons, saves = 50, 1000
	ctx := context.Background()
	var lat durations
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		a := newStation(b, dir, nil, "")
		g := gen.New(seed)
		by := cadres(g)
		ids := savePersons(b, a, g, by, persons)
		forms := make([]records.Fields, saves)
		for i := range forms {
			forms[i] = fields(b, g.Visit(ids[i%persons], g.Date(visitsFrom, visitsTo)))
		}
		b.StartTimer()
		for i, f := range forms {
			start := time.Now()
			_, err := a.Store.Save(ctx, records.Visit, "", f, by[i%len(by)])
			lat = append(lat, time.Since(start))
			must(b, err, "save")
		}
		b.StopTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(lat.quantile(0.50)), "p50-ms")
	b.ReportMetric(ms(lat.quantile(0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
