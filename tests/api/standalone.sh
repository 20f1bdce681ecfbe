#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The project stands alone: no file of the source tree refers to files
# outside it (a machine's paths, notes that are not in the repository, an
# issue tracker), and every Markdown file a file names exists in the tree.
# Cite upstream sources (a kernel or QEMU path, a commit id) instead.
#   standalone.sh SOURCE_ROOT
set -eu
root=$1
self=tests/api/standalone.sh
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files --cached --others --exclude-standard >"$tmp/all"
else
	find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||' >"$tmp/all"
fi
# Text files only (grep -I skips binary ones: compressed traces, corpora).
grep -v -x -F "$self" "$tmp/all" | while read -r f; do
	[ -f "$f" ] && grep -Iq . "$f" 2>/dev/null && echo "$f"
done >"$tmp/files"

status=0
# Paths and notes from outside the repository, and the issue tracker.
if tr '\n' '\0' <"$tmp/files" | xargs -0 grep -nIiE \
	'/work/|shared/[r]eference|semantics\.md|\.\.[/]shared|reference notes?\b|issue tracker|\bissues? #?[0-9]+' \
	>"$tmp/hits"; then
	echo "refers to something outside the repository:"
	cat "$tmp/hits"
	status=1
fi
# Markdown files that are named but not in the tree.
sed 's|.*/||' "$tmp/all" | sort -u >"$tmp/names"
tr '\n' '\0' <"$tmp/files" | xargs -0 grep -noIE '[A-Za-z0-9_.-]+\.md\b' |
	while IFS=: read -r f line ref; do
		grep -qxF "$ref" "$tmp/names" || echo "$f:$line: names $ref, which is not in the tree"
	done >"$tmp/md"
if [ -s "$tmp/md" ]; then
	cat "$tmp/md"
	status=1
fi
[ $status -eq 0 ] && echo "$(wc -l <"$tmp/files") text files: no reference outside the repository"
exit $status
