"""The throughput profile with Locust: FastHttpUser, no think time (each user is one busy connection), each
request drawn from the mix (whiskey_common)."""

from locust import FastHttpUser, task
from whiskey_common import load_mix

MIX = load_mix()


class ThroughputUser(FastHttpUser):
    # wait_time unset: the next request leaves as soon as the previous answer arrived.

    @task
    def one_request(self):
        path, name = MIX.next()
        self.client.get(path, name=name)
