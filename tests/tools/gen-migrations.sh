#!/bin/sh
# Writes a C file embedding sql/NNN_*.sql (in order) as lt_migrations[]. Used by the Makefile.
set -eu
out=$1; shift
{
    echo '/* generated from sql/ by tests/tools/gen-migrations.sh; do not edit */'
    echo '#include "migrations.h"'
    echo 'const struct lt_migration lt_migrations[] = {'
    max=0
    for f in "$@"; do
        base=$(basename "$f")
        num=$(echo "$base" | sed 's/^\([0-9]*\)_.*/\1/' | sed 's/^0*//')
        [ -n "$num" ] || num=0
        [ "$num" -gt "$max" ] && max=$num
        printf '    {%s, "%s",\n' "$num" "$base"
        sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/        "/' -e 's/$/\\n"/' "$f"
        echo '    },'
    done
    echo '};'
    echo "const int lt_nmigrations = $#;"
    echo "const int lt_schema_version = $max;"
} > "$out.tmp"
mv "$out.tmp" "$out"
