"""The API's answers on the tiny catalogue, checked against hand-computed values (see conftest)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

ClientFactory = Callable[..., TestClient]
POP_SCORES = {11: 4.0, 12: 3.0, 13: 2.0, 14: 1.0, 15: 1.0, 16: 0.0}  # click counts (conftest)


def test_recommend_returns_pop_ranking_with_scores(pop_client: TestClient) -> None:
    # POP ignores the session: the 3 most clicked items, with their click counts
    body = pop_client.post("/v1/recommend", json={"items": [14], "k": 3}).json()
    assert body == {
        "items": [11, 12, 13],
        "scores": [4.0, 3.0, 2.0],
        "unknown_items": [],
        "fallback": False,
        "model": "pop",
    }


def test_exclude_seen_drops_the_session_items(pop_client: TestClient) -> None:
    # without 11 and 12 the best left are 13 (2 clicks) then 14 and 15 (1 click, tied)
    body = pop_client.post("/v1/recommend", json={"items": [11, 12], "k": 3, "exclude_seen": True}).json()
    assert body["items"][0] == 13 and set(body["items"][1:]) == {14, 15}
    assert body["scores"] == [2.0, 1.0, 1.0]


def test_unknown_items_are_reported_and_only_unknown_falls_back(pop_client: TestClient) -> None:
    mixed = pop_client.post("/v1/recommend", json={"items": [999, 12, "nope"], "k": 2}).json()
    assert mixed["unknown_items"] == [999, "nope"] and mixed["fallback"] is False
    only_unknown = pop_client.post("/v1/recommend", json={"items": [999, "nope"], "k": 2})
    assert only_unknown.status_code == 200
    assert only_unknown.json()["fallback"] is True
    assert only_unknown.json()["items"] == [11, 12]  # the most popular items


def test_digit_strings_are_accepted_by_an_integer_vocabulary(pop_client: TestClient) -> None:
    body = pop_client.post("/v1/recommend", json={"items": ["12"], "k": 1}).json()
    assert body["unknown_items"] == [] and body["fallback"] is False


def test_k_above_the_catalogue_returns_the_whole_catalogue(pop_client: TestClient) -> None:
    body = pop_client.post("/v1/recommend", json={"items": [11], "k": 50}).json()
    assert sorted(body["items"]) == sorted(POP_SCORES)
    assert body["scores"] == sorted(POP_SCORES.values(), reverse=True)


def test_sknn_scores_match_hand_computed_cosine_sums(serve: ClientFactory, sknn_run: Path) -> None:
    # prefix {1}: every training session holding item 1 is a neighbour with cosine
    # 1/sqrt(|s|): [1,2,3] -> 1/sqrt(3); [1,2], [1,4], [5,1] -> 1/sqrt(2).
    # score(12) = 1/sqrt(3) + 1/sqrt(2); score(14) = score(15) = 1/sqrt(2); score(13) = 1/sqrt(3)
    client = serve(sknn_run)
    body = client.post("/v1/recommend", json={"items": [11], "k": 4, "exclude_seen": True}).json()
    assert body["items"][0] == 12 and set(body["items"][1:3]) == {14, 15} and body["items"][3] == 13
    expected = [1 / math.sqrt(3) + 1 / math.sqrt(2), 1 / math.sqrt(2), 1 / math.sqrt(2), 1 / math.sqrt(3)]
    assert body["scores"] == pytest.approx(expected, rel=1e-5)
    assert body["model"] == "sknn"


def test_session_events_accumulate_cap_and_recommend(serve: ClientFactory, pop_run: Path) -> None:
    client = serve(pop_run, max_session_length=3)
    for item in (11, 12, 13):
        response = client.post("/v1/sessions/s-1/events", json={"item": item, "k": 2})
    assert response.json()["session"] == {"session_id": "s-1", "items": [11, 12, 13]}
    # a fourth click drops the oldest; exclude_seen then leaves 11 (unseen again) on top
    body = client.post("/v1/sessions/s-1/events", json={"item": 14, "k": 1, "exclude_seen": True}).json()
    assert body["session"]["items"] == [12, 13, 14]
    assert body["items"] == [11] and body["scores"] == [4.0]
    assert client.get("/v1/sessions/s-1").json() == {"session_id": "s-1", "items": [12, 13, 14]}


def test_unknown_click_is_stored_and_reported(pop_client: TestClient) -> None:
    body = pop_client.post("/v1/sessions/u/events", json={"item": "ghost"}).json()
    assert body["session"]["items"] == ["ghost"]
    assert body["unknown_items"] == ["ghost"] and body["fallback"] is True


def test_delete_forgets_and_unknown_ids_are_404(pop_client: TestClient) -> None:
    pop_client.post("/v1/sessions/gone/events", json={"item": 11})
    assert pop_client.delete("/v1/sessions/gone").status_code == 204
    for method in ("get", "delete"):
        response = pop_client.request(method, "/v1/sessions/gone")
        assert response.status_code == 404
        assert response.json()["error"] == "unknown session"


def test_model_info_reports_run_metadata(pop_client: TestClient) -> None:
    info = pop_client.get("/v1/model").json()
    assert info["name"] == "pop" and info["preset"] is None and info["n_items"] == 6
    assert info["data"]["source"] == "tiny" and info["data"]["stats"]["train_sessions"] == 5
    assert info["test_metrics"] == {"HR@20": 1.0, "MRR@20": 0.5}  # as conftest.save_run records


def test_health_ready_and_docs(pop_client: TestClient) -> None:
    assert pop_client.get("/health").json() == {"status": "ok"}
    assert pop_client.get("/ready").json() == {"status": "ready", "model": "pop"}
    assert pop_client.get("/docs").status_code == 200
    paths = pop_client.get("/openapi.json").json()["paths"]
    assert {"/v1/recommend", "/v1/sessions/{session_id}/events", "/v1/model"} <= set(paths)


def test_metrics_count_requests_by_route_template_and_status(pop_client: TestClient) -> None:
    pop_client.post("/v1/recommend", json={"items": [11]})
    pop_client.post("/v1/recommend", json={"items": []})
    pop_client.get("/v1/sessions/abc")
    text = pop_client.get("/metrics").text
    assert 'sessionrec_http_requests_total{method="POST",route="/v1/recommend",status="200"} 1.0' in text
    assert 'sessionrec_http_requests_total{method="POST",route="/v1/recommend",status="422"} 1.0' in text
    assert 'route="/v1/sessions/{session_id}",status="404"' in text  # the template, not the id
    assert 'sessionrec_http_errors_total{kind="invalid_request",route="/v1/recommend"} 1.0' in text
    assert "sessionrec_http_request_duration_seconds_bucket" in text
    assert "sessionrec_model_ready 1.0" in text
