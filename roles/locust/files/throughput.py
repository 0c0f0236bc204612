"""The throughput profile with Locust: FastHttpUser, no think time (each user is one busy connection)."""

from locust import FastHttpUser, task
from whiskey_common import STATS_NAME, next_path


class ThroughputUser(FastHttpUser):
    # wait_time unset: the next request leaves as soon as the previous answer arrived.

    @task
    def quote_by_id(self):
        self.client.get(next_path(), name=STATS_NAME)
