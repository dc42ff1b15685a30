package server

import (
	"encoding/json"

	"stationsync/internal/records"
	"stationsync/syncproto"
)

// fieldsOf turns a generated record (internal/gen) into a change's fields.
func fieldsOf(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		out[k], _ = json.Marshal(v)
	}
	return out
}

func batchOf(st *Station, cs ...*change) *syncproto.Batch {
	b := &syncproto.Batch{Version: syncproto.Version, Station: st.ID, Epoch: "e", Village: st.Village}
	for i, c := range cs {
		b.Changes = append(b.Changes, syncproto.Change{Seq: uint64(i + 1), HLC: uint64(c.hlc), Kind: string(c.kind), ID: c.id, Op: string(c.op), Fields: c.fields, Base: c.base, By: c.by})
	}
	return b
}
