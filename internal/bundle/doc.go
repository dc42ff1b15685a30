// Package bundle is the file a USB stick carries when a village has no
// usable link: the station's uplink bundle (its changes the county has not
// acknowledged, and the files they attach) and the county's downlink
// bundle for one station (acknowledgements, decisions, register updates,
// files). One file, compressed, signed, and named so that a person can
// tell station and date: 村站通-340123101201-20261203-1.bundle.
//
// # Format (version 1)
//
// All integers are big-endian.
//
//	offset      size  content
//	0           8     magic "SSBUNDLE"
//	8           2     format version, u16 (1)
//	10          D     entries' stored bytes, back to back, in manifest order
//	10+D        M     manifest: compact JSON (Manifest), at most 16 MiB
//	10+D+M      4     M, u32
//	14+D+M      64    Ed25519 signature over bytes [0,10) followed by the manifest
//	78+D+M      8     end mark "SSBEOF\r\n"
//
// The manifest names every entry's type, size, SHA-256, encoding ("store"
// or raw "deflate") and the size and SHA-256 of its stored bytes; D is the
// sum of the stored sizes, so the file's length is fixed by the manifest.
// Signing the manifest signs every byte through those hashes, and keeps
// the signed message small whatever the photos weigh. The signed bytes
// begin with "SSBUNDLE", so no bundle signature can pass for a push
// envelope's ("SSB1") or a request's ("stationsync-v1"). A later format
// raises the version; a reader refuses a version it does not know, with a
// message saying to upgrade.
//
// Entries are opaque to this package: the agent and the county give them
// types ("envelope" for a sealed push batch of syncproto, "blob" for a
// file named by its hash, and so on).
//
// # Safety
//
// Writing is temp file, fsync, rename, folder fsync (internal/atomicfile):
// a stick pulled early leaves a hidden .tmp file, never a .bundle that
// looks whole, and a file cut short anyway lacks the end mark. Read checks,
// before it returns anything: the magic and version, the end mark, the
// manifest, the kind, the signature with the key the caller names for the
// bundle's station, the station, and the SHA-256 of every entry's stored
// and decompressed bytes, decompression bounded by the signed size. Each
// refusal is an *Error with a Chinese message for the person at the
// screen. Entry re-reads and re-checks an entry before handing it out.
//
// # How the agent and the county use it
//
// Bundles and the network are one protocol. An uplink carries the same
// signed envelopes a push sends, so the county applies them through the
// same high-water mark: a bundle imported twice, or after the same
// changes came online, applies nothing twice, and a replayed or reordered
// bundle is harmless. Its blobs go into the county's blob store, checked
// against their names. The county answers with a downlink for that station
// — the push results that acknowledge the changes, decisions, feed
// records, files — which the station applies as it would the answers of
// a sync round, and after which it may evict acknowledged files. Records
// and files travel together here: a stick has no 2G link for a photo to
// block.
//
// Uplinks are signed with the station's Ed25519 key (station.key), the
// one that signs its requests; downlinks with a county key that stations
// must learn at enrolment.
package bundle
