package testsupport

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"

	"stationsync/internal/records"
)

// Fields turns a generated record (internal/gen) into the fields a
// station saves.
func Fields(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			panic("testsupport: " + err.Error())
		}
		out[k] = b
	}
	return out
}

var healthNotes = []string{"身体健康", "高血压，需按时服药", "行动不便，需要照料", "近期住院，已出院", "视力下降", "精神状态良好"}

// EditFields is a cadre's edit of a person (health and phone, fields the
// station and the county may both edit), drawn from rng.
func EditFields(rng *rand.Rand) records.Fields {
	return records.Fields{
		"health": records.JSONText(healthNotes[rng.IntN(len(healthNotes))] + "（" + strconv.Itoa(rng.IntN(1000)) + "）"),
		"phone":  records.JSONText("139" + strconv.Itoa(10000000+rng.IntN(89999999))),
	}
}
