# The two commands (see README): `make run` and `make test`.
.PHONY: run test setup bench lighthouse

run:
	scripts/run.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh --test

bench:
	scripts/bench.sh

lighthouse:
	scripts/lighthouse.sh
