// Package syncproto is the wire protocol the station agent and the county
// server speak: signed, compressed batches of changes pushed up, pages of
// the county's record feed pulled down, and enrollment. PROTOCOL.md in this
// folder describes it with an example of each message.
//
// It imports neither agent nor server; both import it.
package syncproto
