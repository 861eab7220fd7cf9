"""The diagnostic suite table: a fixed panel of zoo losses, each tuned on a beta x learning-rate grid on
validation seeds, then scored on test seeds, paired on evaluation keys against the reference policy and
against tuned DPO; one compiled program per setting for the whole grid."""
