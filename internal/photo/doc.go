// Package photo turns a file a cadre attaches — a phone or camera photo, a
// scan, a screenshot — into what is stored and sent: JPEG and PNG images
// scaled so the long edge is at most 1,600 px and re-encoded as JPEG of
// quality 80, turned upright by their EXIF orientation, with every piece
// of metadata left behind (GPS position, camera make and serial, time,
// thumbnails); PDF scans kept byte for byte. Anything else is refused with
// a Chinese message naming what is accepted.
//
// Decoding and scaling are github.com/disintegration/imaging and the
// standard library's codecs; EXIF orientation is read by imaging. Nothing
// here parses image data itself, except to find the EXIF segment of a
// JPEG (see orient.go).
//
// # How the agent and the county use it
//
// The agent calls Normalize at capture — station pages, station-agent
// attach, a webcam — before the file reaches the blob store
// (internal/blobstore), so a 4 MB camera photo becomes about 300 KB
// before it waits for a 2G link, and the location of a family's house
// never leaves the PC. The record gets the result's hash, size and Type;
// the record travels at once, the file after it in chunks.
//
// The county does not normalise again (the file's hash is its name, and
// a station's signature covers it); it uses Sniff and the size limit to
// refuse types and sizes it does not accept, and Thumbnail for the record
// page.
//
// # Limits
//
// Input is read up to Options.MaxBytes and refused beyond it before any
// decoding. An image's dimensions are read from its header
// (image.DecodeConfig) and refused over Options.MaxPixels before its
// pixels are decoded, so a small file claiming 100,000 × 100,000 pixels (a
// decompression bomb) costs nothing. Decoding runs one image at a time
// (a 12-megapixel photo peaks at about 50 MB of heap), so a
// cadre attaching forty photos at once does not exhaust an old PC.
package photo
