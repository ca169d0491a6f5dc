"""Learning: the world model (the paper's Fig. 3a), behaviour in imagination
(Fig. 3b), the value estimators and the numeric precision of both."""
