#!/usr/bin/env python3
# The first query after a large run of a traced program: `agentlog serve` starts on a copy of a project whose
# span files are not indexed yet (as after a run), DELAY seconds pass (the background follower indexes
# meanwhile), then one find_slow_traces call is timed.
#   bench/store/first_query.py BINARY PROJECT DELAY   (PROJECT: e.g. from `bench_store --keep`)
import subprocess, time, sys, os, json, shutil
binary, src, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
root='/tmp/agentlog-first-query'; shutil.rmtree(root, ignore_errors=True); os.makedirs(root)
shutil.copytree(src+'/.ai-agents', root+'/.ai-agents')
for f in os.listdir(root+'/.ai-agents/logging/traces'):
    if f.startswith('index.sqlite'): os.remove(root+'/.ai-agents/logging/traces/'+f)
t0=time.time()
p=subprocess.Popen([binary,'serve','--root',root],stdin=subprocess.PIPE,stdout=subprocess.PIPE,stderr=subprocess.DEVNULL)
def rpc(i, method, params):
    p.stdin.write((json.dumps({"jsonrpc":"2.0","id":i,"method":method,"params":params})+"\n").encode()); p.stdin.flush()
    return json.loads(p.stdout.readline())
rpc(1,"initialize",{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}})
time.sleep(delay)
t1=time.time()
r=rpc(2,"tools/call",{"name":"find_slow_traces","arguments":{"threshold":"20ms","limit":3}})
t2=time.time()
ok = not r["result"].get("isError")
print("%s delay %.0f s: first query %.1f s after it was sent (%.1f s after start), ok=%s" % (os.path.basename(binary), delay, t2-t1, t2-t0, ok))
p.stdin.close(); p.wait()
