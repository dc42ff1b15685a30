//go:build race

package photo

// raceEnabled shrinks the big test images: the race detector makes
// decoding 12 megapixels take half a minute, and what is checked does
// not depend on the size.
const raceEnabled = true
