// Package web serves the station's pages to the cadres at the PC: a
// server on the loopback that only this PC may reach, with sessions kept
// in memory.
//
// A file per concern: server.go (options, every route in Handler, the
// checks every request passes), session.go and login.go (who is at the
// PC), render.go (drawing a page, the error page, lists' pages),
// forms.go (what a cadre typed and what is wrong with it), recordform.go
// (the new and edit forms of every kind of record, and a change that
// needs its reason, written once), then one file per page family:
// home.go, persons.go, visits.go, applications.go, disclosures.go,
// accounts.go, enroll.go, sync.go, settings.go; attachments.go serves the
// files of records, drawn on their pages by partials/attachments.html.
// funcs.go holds what the templates call.
package web
