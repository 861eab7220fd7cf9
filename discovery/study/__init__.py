"""The discovery study (issue 16): per target setting, search from tuned DPO, select on validation seeds,
test against the tuned panel on test seeds; then the transfer matrix. Behind `mpo study`."""
