#!/bin/sh
# run.sh CLANG SECONDS DIR SRCDIR NAME ARGS...: build the libFuzzer target
# SRCDIR/tests/fuzz/fuzz_NAME.c with ARGS (flags, sources, libraries) into
# DIR/NAME and run it for SECONDS on a copy of its seed corpus. Fails, with
# the end of the log, if the build fails or the fuzzer finds anything.
set -e
clang=$1 seconds=$2 dir=$3/$5 srcdir=$4 name=$5
shift 5
rm -rf "$dir" && mkdir -p "$dir/corpus"
cp "$srcdir/tests/fuzz/corpus/$name/"* "$dir/corpus/"
$clang -g -O1 -fsanitize=fuzzer,address,undefined \
    "$srcdir/tests/fuzz/fuzz_$name.c" "$@" -o "$dir/fuzz_$name"
# Crash artifacts land in DIR/NAME, not in the (maybe read-only) cwd.
if ! "$dir/fuzz_$name" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1; then
	tail -50 "$dir/log"
	echo "fuzz_$name: failed (log: $dir/log)"
	exit 1
fi
echo "fuzz_$name: $(grep -E '^Done' "$dir/log")"
