//go:build !race

package herd

const raceBuild = false
