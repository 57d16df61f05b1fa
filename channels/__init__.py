"""Channel adapters (web, wechat, sms, voice) and the conversation gateway."""
