# Shared by the benchmark scripts (sourced): results go into marked regions of one markdown
# file, docs/benchmarks.md, which several scripts write.

# write_region FILE NAME CONTENT: replaces the lines between "<!-- NAME:begin -->" and
# "<!-- NAME:end -->" of FILE with the file CONTENT. Other regions of FILE (another script
# owns one) and the hand-written text stay as they are; the markers are added at the end of
# FILE when absent, and FILE is created when missing.
write_region() {
	local file=$1 begin="<!-- $2:begin -->" end="<!-- $2:end -->" content=$3 nb ne
	mkdir -p "$(dirname "$file")"
	if [ ! -f "$file" ]; then
		printf '# Benchmarks\n\nWritten by the benchmark scripts; see bench/README.md.\n' >"$file"
	fi
	nb=$(grep -cxF "$begin" "$file" || true)
	ne=$(grep -cxF "$end" "$file" || true)
	if [ "$nb" = 0 ] && [ "$ne" = 0 ]; then
		printf '\n%s\n%s\n' "$begin" "$end" >>"$file"
	elif [ "$nb" != 1 ] || [ "$ne" != 1 ] ||
		[ "$(grep -nxF "$begin" "$file" | cut -d: -f1)" -gt "$(grep -nxF "$end" "$file" | cut -d: -f1)" ]; then
		printf '%s: want exactly one "%s" before one "%s"; left the file alone\n' "$file" "$begin" "$end" >&2
		return 1
	fi
	awk -v b="$begin" -v e="$end" -v cf="$content" '
		$0 == b { print; while ((getline line < cf) > 0) print line; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$file" >"$file.tmp.$$"
	mv "$file.tmp.$$" "$file"
}


# source_commit: the commit the Go sources are at, "+ uncommitted changes" when a Go file,
# go.mod or go.sum differs (results written into docs/ by an earlier step do not count).
source_commit() {
	local c
	c="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
	if [ -n "$(git status --porcelain -- '*.go' go.mod go.sum 2>/dev/null)" ]; then
		c+=" (+ uncommitted changes)"
	fi
	echo "$c"
}
