#!/usr/bin/python
"""Emit an Ansible [WARNING] (ansible.builtin has no module for that) and change nothing."""

DOCUMENTATION = r"""
---
module: cmonitor_warn
short_description: Show a warning in the play output
description:
  - Returns the message as an Ansible warning, so it is printed as C([WARNING]) and counted in the recap.
options:
  msg:
    description: The warning text.
    type: str
    required: true
author: whiskey contributors
"""

EXAMPLES = r"""
- name: Tell the user the fallback collector is used
  cmonitor_warn:
    msg: cmonitor is unreachable; using the fallback collector
"""

RETURN = r"""
msg:
  description: The warning text.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"msg": {"type": "str", "required": True}}, supports_check_mode=True)
    module.warn(module.params["msg"])
    module.exit_json(changed=False, msg=module.params["msg"])


if __name__ == "__main__":
    main()
