"""Locust user for the report's test data: random ids in 1..10000 (ids > 9900 fail), short think time."""

import random

from locust import HttpUser, between, task


class FixtureUser(HttpUser):
    wait_time = between(0.05, 0.15)

    @task
    def quote_by_id(self):
        self.client.get(f"/quotes/byId?id={random.randint(1, 10000)}", name="/quotes/byId")
