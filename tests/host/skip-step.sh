#!/bin/sh
# tests/host/skip-step.sh: prints a one-case KTAP suite that is skipped, with the reason.
# usage: skip-step.sh <name> <reason>
echo "KTAP version 1"
echo "1..1"
echo "ok 1 $1 # SKIP $2"
