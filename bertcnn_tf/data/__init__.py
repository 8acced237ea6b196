"""Labelled files (`files`) and the tf.data pipeline that feeds them to `fit` (`pipeline`).

`customer_feedback.csv` beside this file is the demo data set (see README.md here).
"""
