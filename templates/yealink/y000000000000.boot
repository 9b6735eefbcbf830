{#- Yealink documents no macro for a boot file's includes; the MAC comes
    from the phone's User-Agent. Without it this renders nothing, sipprov
    answers 404, and the phone falls back to y0000000000XX.cfg and
    <mac>.cfg. -#}
{% if device.mac %}#!version:1.0.0.1
include:config "{{ device.mac }}.cfg"
overwrite_mode = 1
{% endif %}
