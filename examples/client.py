"""Send one comment to a running `saring serve` and print the decision and its reasons.

Generate the stubs first (README, "A first call"), then:
    SARING_KEY=srg_… python examples/client.py "comment text"
with the `default` site's service key that the first start printed (or any service key for SITE, given
as SARING_SITE).
"""
import os
import sys

import grpc

from saring.v1 import moderation_pb2 as pb
from saring.v1 import moderation_pb2_grpc as rpc

addr = "127.0.0.1:50051"
text = sys.argv[1] if len(sys.argv) > 1 else "Great post! visit my site http://cheap-followers.example"
site = os.environ.get("SARING_SITE", "default")
metadata = [("authorization", f"Bearer {os.environ['SARING_KEY']}")] if "SARING_KEY" in os.environ else []
with grpc.insecure_channel(addr) as channel:
    reply = rpc.ModerationStub(channel).CheckComment(
        pb.CheckCommentRequest(site_id=site, content=text, user_ip="192.0.2.1"),
        metadata=metadata,
    )
print(f"{pb.Decision.Name(reply.decision)}  spam probability {reply.spam_probability:.6f}  model {reply.model_version}")
for r in reply.reasons:
    print(f"  {r.code:20} {r.weight:+8.3f}  {r.detail}")
