#!/usr/bin/env bash
# Refreshes the screenshots of README's tour (docs/tour/) from the browser
# tests: the tour shows what those tests saw, never a picture made by hand.
# Needs Chromium (scripts/install-browser.sh). Takes 2–4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

STATIONSYNC_SCREENSHOTS="$work/station" STATIONSYNC_ARTIFACTS="$work" \
	go test -count=1 -run 'TestStationPagesOnline|TestStationPagesCountyDown|TestWordsPages' ./tests/browser/
STATIONSYNC_ARTIFACTS="$work" \
	go test -count=1 -run 'TestBrowserReviewConflictExportPortal|TestBrowserReportsCharts|TestWordsCountyPages' ./tests/countyweb/

# tour name <- screenshot the test wrote
pick() {
	local src
	src=$(ls "$work"/$2 2>/dev/null | head -1)
	if [ -z "$src" ]; then
		echo "refresh-tour: no screenshot matches $2" >&2
		exit 1
	fi
	cp "$src" "docs/tour/$1.png"
}

mkdir -p docs/tour
rm -f docs/tour/*.png
pick cadre-1-home            'station/online-04-home.png'
pick cadre-2-visit           'station/online-08-visit-form.png'
pick cadre-3-urgent-offline  'station/offline-07-visit-urgent-offline.png'
pick cadre-4-application     'station/online-14-application-form.png'
pick cadre-5-decision        'station/online-16-home-decision.png'
pick cadre-6-notice-print    'station/online-22-print-a4.png'
pick cadre-7-sync-failed     'station/offline-19-sync-failed.png'
pick cadre-8-phone           'station/online-11-visit-390.png'
pick clerk-1-home            'screenshots/county/02-home.png'
pick clerk-2-queue           'screenshots/county/02-queue.png'
pick clerk-3-application     'screenshots/county/03-application.png'
pick clerk-4-conflicts       'screenshots/county/05-conflicts.png'
pick clerk-5-reports         'screenshots/county/charts-1280.png'
pick clerk-6-stations        'screenshots/county/08-stations.png'
pick clerk-7-phone           'screenshots/county/03-application-390.png'
ls -la docs/tour
