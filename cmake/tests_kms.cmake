# Session tokens signed by Cloud KMS: the signer's unit test (no network); the REST calls are
# tested end to end by tests/e2e/kms_signer.sh against tests/tools/fake_kms.py.
rw_unit_test(test_kms_signer control/kms_signer.c)
target_link_libraries(test_kms_signer PRIVATE rw_firebase)
