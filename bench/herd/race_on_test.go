//go:build race

package herd

// raceBuild: the race detector multiplies the load generator's memory
// (shadow memory, 5–10×), so the memory bound is scaled by it.
const raceBuild = true
