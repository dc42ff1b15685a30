// Package blobstore keeps the files attached to records — visit photos,
// scans of a 户口簿 or a signed 申请书, a county decision's document — on
// disk beside the database, named by the SHA-256 of their content. The
// record holds only hashes, sizes and types; the bytes live here, outside
// SQLite, so a photo never bloats the WAL or the outbox.
//
// # Layout
//
//	<dir>/objects/ab/ab12…ef          one file per blob, 0600, named by its hex hash
//	<dir>/uploads/ab12…ef.data        bytes of a resumable upload received so far
//	<dir>/uploads/ab12…ef.json        its acknowledged offset, written atomically
//	<dir>/tmp/                        Put's temporary files, renamed into objects/
//
// One level of 256 fan-out folders keeps a county with millions of files
// at a few thousand entries per folder (git's own layout), cheap on ext4
// and NTFS alike.
//
// # Guarantees
//
//   - A blob appears under its name only whole: written to a temporary
//     file, fsynced, renamed, the folder fsynced (internal/atomicfile). A
//     power cut leaves it absent or complete, never torn.
//   - The same content is stored once. Put of content already present
//     renames nothing and fsyncs nothing.
//   - Reading verifies: Open's reader hashes what it hands out and ends
//     with ErrCorrupt instead of io.EOF when the disk returned other bytes
//     than were stored, so a flipped bit is an error, never a wrong photo.
//   - Files are private to the service's account (internal/fileperm).
//
// # How the agent and the county use it
//
// At capture the agent normalises a photo (internal/photo), Puts it, and
// saves the record with the hash in the same step that queues the record's
// change. The record travels in the ordinary outbox at once; files travel
// on a separate, lower-priority queue, so records never wait behind a file
// (the county shows 附件上传中 until the file arrives). Before sending a
// file the agent asks the county which hashes it lacks, so a file the
// county already has is never sent again.
//
// A file goes up in fixed chunks (64–256 KiB, each its own request with its
// own SHA-256). The county keeps them with Begin / WriteChunk: each chunk
// is checked and fsynced, and its end offset is recorded atomically before
// it is acknowledged. A link cut at any byte, or a county restart, resumes
// from Upload.Offset, the last acknowledged chunk, never from zero. Commit
// checks the whole file against its name before it becomes a blob. The
// station receives a decision's document the same way.
//
// Station disk stays bounded: once the county has acknowledged a file and
// a configured time has passed, the agent may Remove it and fetch it again
// on demand; Usage feeds the disk figure on the pages. The county never
// evicts; it prunes only abandoned uploads (PruneUploads).
//
// One process owns a store's uploads. Put may run in several processes at
// once (station-agent attach beside the running service): the same content
// renamed twice is the same file.
package blobstore
