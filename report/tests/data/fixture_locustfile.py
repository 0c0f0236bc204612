"""Locust user for the report's test data: random ids in 1..10000 (ids > 9900 fail), short think time.

With WHISKEY_FIXTURE_PING=1 the same user asks /whiskey/ping instead (the client's seed calibration)."""

import os
import random

from locust import HttpUser, between, task


class FixtureUser(HttpUser):
    wait_time = between(0.05, 0.15)

    @task
    def quote_by_id(self):
        if os.environ.get("WHISKEY_FIXTURE_PING") == "1":
            self.client.get("/whiskey/ping", name="/whiskey/ping")
            return
        self.client.get(f"/quotes/byId?id={random.randint(1, 10000)}", name="/quotes/byId")
