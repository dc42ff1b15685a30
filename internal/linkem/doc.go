// Package linkem emulates a poor network link (a 2G connection between a
// village station and the server) inside a test process.
//
// A Proxy sits between a client and a server on loopback and adds one-way
// latency, jitter, bandwidth limits and failure modes such as a black hole,
// a reset in the middle of a request body, a response cut short after the
// server committed it, or an end of stream (FIN) held back after the data
// before it (a slow close). Tests and benchmarks point the client at
// Proxy.URL instead of the real server and can change the link with
// Proxy.Set while traffic is flowing, which lets the sync protocol be
// exercised against the conditions it will meet in the field without
// leaving the machine.
//
// Each direction is modelled the way a real serial link behaves: a chunk
// occupies the link for len/rate seconds after the previous chunk has left,
// and then needs the one-way latency to reach the far end. Latency and
// bandwidth therefore add up, and long transfers converge to the configured
// rate. Byte order is always preserved, even with jitter.
//
// For safety the proxy only listens on and connects to loopback addresses,
// so a misconfigured test can never send traffic to a real host.
package linkem
