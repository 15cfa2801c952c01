"""What the ML cores share (no Django): the command line built from config dataclasses, the
progress protocol between a core and whoever launched it, distributed set-up, and the one
reader of dialogues and comparison rows.

The cores (`inference`, `rewardtrain`, `training_jobs.rlhf`) import from here; nothing here
imports a core or Django.
"""
