"""Runs scim2-tester (PyPI) against a SCIM service provider and prints one JSON line per check.

Usage: python scim2_tester_check.py BASE_URL TOKEN
"""

import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server

base_url, token = sys.argv[1], sys.argv[2]
http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
client = SyncSCIMClient(http)
for result in check_server(client):
    print(json.dumps({
        "status": result.status.name,
        "title": result.title,
        "resource_type": result.resource_type,
        "reason": result.reason,
    }))
