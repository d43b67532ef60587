#!/usr/bin/env bash
# Reserves 2 MB hugepages when possible and prints the EAL memory arguments to use:
# hugepage-backed `--in-memory -m 512` when reserved, `--no-huge -m 512` otherwise.
want=${1:-512}
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
if [ "${free:-0}" -lt 256 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
    total=$(awk '/HugePages_Total/ {print $2}' /proc/meminfo)
    echo $((total + want)) > /proc/sys/vm/nr_hugepages 2>/dev/null || true
    free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
fi
if [ "${free:-0}" -ge 256 ]; then
    echo "hugepages: $free x 2 MB free, using them" >&2
    echo "--in-memory -m 512"
else
    echo "hugepages: none could be reserved here, falling back to --no-huge (slower, same code path)" >&2
    echo "--no-huge -m 512"
fi
