"""MFAGAN (Cheng, Zhao, Ye, Gu): the MFANet generator and its compression pipeline."""
