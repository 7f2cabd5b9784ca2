from __future__ import annotations

from collections import Counter

import numpy as np

from kefu.understanding.bm25 import Bm25Index
from kefu.understanding.faq import FaqMatcher
from kefu.understanding.retrieval import DevQuery, Fusion, fit_fusion, leave_one_out
from tests.understanding.test_faq import bundled_entries


def test_bm25_edits_are_visible_to_the_next_query() -> None:
    index = Bm25Index()
    index.add(0, Counter(["押金", "退"]))
    index.add(1, Counter(["开锁", "失败"]))
    scores = index.scores(Counter(["押金", "退"]), 2)
    assert scores[0] > 0.9 and scores[1] == 0
    index.remove(0, Counter(["押金", "退"]))
    assert index.scores(Counter(["押金"]), 2).tolist() == [0.0, 0.0]
    index.add(2, Counter(["押金"]))
    assert index.scores(Counter(["押金"]), 3)[2] > 0 and len(index) == 2


def test_fusion_is_calibrated_and_exact_matches_win() -> None:
    fusion = Fusion((5.0, 0.0, 0.0, 0.0, 0.0), -2.5)
    features = np.array([[0.0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0], [0.0, 0, 0, 0, 1]])
    low, high, exact = fusion.score(features)
    assert 0 < low < 0.1 and 0.9 < high < 1 and exact >= 0.99


def test_fit_fusion_learns_weights_and_thresholds_from_development_queries() -> None:
    matcher = FaqMatcher(bundled_entries())
    standard = {q for e in matcher.entries.values() for q in (e.question.zh, e.question.en)}
    queries = leave_one_out(matcher.index, standard, limit=200) + [
        DevQuery(t, None) for t in ("今天天气怎么样", "what's the capital of France", "讲个笑话")
    ]
    fitted = fit_fusion(matcher.index, queries)
    assert fitted != matcher.fusion
    assert 0 < fitted.clarify <= fitted.answer < 1
    assert fitted.weights[2] > 0  # character n-grams carry signal without a model
