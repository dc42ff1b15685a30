// Package failpoint lets the fault-injection tests stop a process at a
// named step of the protocol — after the local commit, after a request is
// sent, after the answer is read, after it is saved, mid-migration — as a
// power cut would.
//
// Failpoints exist only in binaries built with the `failpoints` build tag;
// in every other build Inject is an empty function the compiler removes.
// A test arms them with the environment variable STATIONSYNC_FAILPOINTS,
// a comma-separated list of name=action, where action is
//
//	kill       the process kills itself with SIGKILL (no deferred code runs)
//	kill@N     the same, at the N-th time the point is reached
//	kill%P     the same, with probability P percent each time
//	sleep:D    sleep for duration D (widens a window for an outside kill)
package failpoint

// The failpoints of the protocol. Names are stable: tests arm them by name.
const (
	AgentAfterLocalCommit = "agent/after-local-commit" // a change is saved and queued
	AgentAfterPushSent    = "agent/after-push-sent"    // the batch is on the wire, no answer read
	AgentAfterAnswerRead  = "agent/after-answer-read"  // the answer is read, not yet saved
	AgentAfterAckSaved    = "agent/after-ack-saved"    // the answer is saved, outbox trimmed
	AgentAfterPageApplied = "agent/after-page-applied" // a pulled page is saved
	ServerAfterCommit     = "server/after-commit"      // a batch is committed, the answer not sent
	MidMigration          = "sqlitedb/mid-migration"   // a migration ran, its record not committed
)
