// Package installer holds what setting up a station or a county server
// needs: where data lives on each OS. Service registration, enrolment
// during install and packages come with issue 5.
package installer
