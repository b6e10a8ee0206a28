# The front door (control/listener.c, docs/architecture.md "The front door"): its request-head
# parser fed byte by byte; the end-to-end test is tests/e2e/harden_frontdoor.sh.
rw_unit_test(test_httphead control/httphead.c)
