"""The seed profile: the original experiment's Locust user (xplordat 2020), in Locust 2.x terms.

Each user sends one request of the mix (whiskey_common: by default one random quote), then thinks 1-3 s: 500
users offer ~220 req/s at most. WHISKEY_NO_WAIT=1 drops the think time: the calibration uses it to measure this
client's own ceiling with the same HttpUser client.
"""

import os

from locust import HttpUser, between, constant, task
from whiskey_common import load_mix

MIX = load_mix()


class SeedUser(HttpUser):
    wait_time = constant(0) if os.environ.get("WHISKEY_NO_WAIT") == "1" else between(1, 3)

    @task
    def one_request(self):
        path, name = MIX.next()
        self.client.get(path, name=name)
