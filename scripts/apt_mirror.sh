#!/usr/bin/env bash
# Print the machine's own Debian mirror for SUITE, from apt's sources; print nothing when there is none.
#
#   scripts/apt_mirror.sh SUITE [APT_DIR]     (APT_DIR defaults to /etc/apt)
#
# Reads deb822 files (sources.list.d/*.sources: a stanza whose Types has "deb", whose Suites has
# SUITE exactly and that is not "Enabled: no"; its first URI) and classic one-line files
# (sources.list, sources.list.d/*.list: "deb [options] URI SUITE component..."). The first match
# wins, deb822 first. No mirror is hard-coded anywhere: with no match, debootstrap is called
# without one and uses its built-in default.
set -euo pipefail
suite="${1:?usage: apt_mirror.sh SUITE [APT_DIR]}"
dir="${2:-/etc/apt}"

shopt -s nullglob
for file in "$dir"/sources.list.d/*.sources; do
  awk -v suite="$suite" '
    function flush() {
      if (uri != "" && is_deb && has_suite && enabled) { print uri; found = 1; exit }
      uri = ""; is_deb = 0; has_suite = 0; enabled = 1
    }
    BEGIN { enabled = 1 }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    {
      key = tolower($1); sub(/:$/, "", key)
      if (key == "types") { for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
      else if (key == "uris") { uri = $2 }
      else if (key == "suites") { for (i = 2; i <= NF; i++) if ($i == suite) has_suite = 1 }
      else if (key == "enabled") { enabled = (tolower($2) != "no") }
    }
    END { if (!found) flush() }
  ' "$file" | head -n1 | grep . && exit 0
done
for file in "$dir"/sources.list "$dir"/sources.list.d/*.list; do
  [ -f "$file" ] || continue
  awk -v suite="$suite" '
    $1 != "deb" { next }
    {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }  # [arch=amd64 signed-by=...]
      if ($(i + 1) == suite) { print $i; exit }
    }
  ' "$file" | head -n1 | grep . && exit 0
done
exit 0
