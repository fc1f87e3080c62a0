"""Send one comment to a running `saring serve` and print the decision and its reasons.

Generate the stubs first (README, "A first call"), then: python examples/client.py "comment text"
"""
import sys

import grpc

from saring.v1 import moderation_pb2 as pb
from saring.v1 import moderation_pb2_grpc as rpc

addr = "127.0.0.1:50051"
text = sys.argv[1] if len(sys.argv) > 1 else "Great post! visit my site http://cheap-followers.example"
with grpc.insecure_channel(addr) as channel:
    reply = rpc.ModerationStub(channel).CheckComment(
        pb.CheckCommentRequest(site_id="demo", comment_id="demo-1", content=text, user_ip="192.0.2.1")
    )
print(f"{pb.Decision.Name(reply.decision)}  spam probability {reply.spam_probability:.6f}  model {reply.model_version}")
for r in reply.reasons:
    print(f"  {r.code:20} {r.weight:+8.3f}  {r.detail}")
