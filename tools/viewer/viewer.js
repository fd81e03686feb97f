// agentlog trace viewer
