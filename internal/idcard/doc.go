// Package idcard checks, decodes and masks the 18-character citizen ID
// number (公民身份号码, GB 11643-1999) and masks phone numbers.
//
// The number is the key a cadre types more often than any other, usually
// copied by hand from a card, so typing mistakes are the normal case and not
// the exception. Validate therefore answers with an *Error whose Message is
// a Chinese sentence that can be shown to the cadre as it is, and whose Code
// lets programs tell the kinds of mistake apart.
//
// Layout of a number:
//
//	340123 19900101 123 4
//	area   birth    seq check
//
// The area is the 6-digit county code where the number was first issued (it
// does not change when the holder moves), the sequence is odd for men and
// even for women, and the last character is an ISO 7064 MOD 11-2 check
// character that may be X (the value 10).
//
// ID and phone numbers are personal data: disclosures, lists and logs show
// them only through Mask and MaskPhone.
package idcard
