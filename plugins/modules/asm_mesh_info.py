#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: asm_mesh_info
short_description: List Alibaba Cloud Service Mesh (ASM) instances
version_added: 0.1.0
author:
  - meshdr.alicloud maintainers (@meshdr)
description:
  - List ASM instances (C(DescribeServiceMeshes)), filtered by name, id and region, with each mesh's details
    (C(DescribeServiceMeshDetail)) and member clusters (C(DescribeClustersInServiceMesh)).
  - Never changes anything.
notes:
  - O(region_id) filters the meshes by region when set (also when set through its environment variable).
extends_documentation_fragment:
  - meshdr.alicloud.alicloud
options:
  name:
    description: Only meshes with this exact name.
    type: str
  mesh_id:
    description: Only the mesh with this id.
    type: str
  include_clusters:
    description: Read each mesh's member clusters (one more call per mesh).
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: All meshes in the account
  meshdr.alicloud.asm_mesh_info:
  register: all_meshes

- name: The mesh named mesh-1 in cn-hangzhou
  meshdr.alicloud.asm_mesh_info:
    name: mesh-1
    region_id: cn-hangzhou
  register: mesh

- name: Its id
  ansible.builtin.debug:
    msg: "{{ mesh.meshes[0].id }}"
'''

RETURN = r'''
meshes:
  description: Matching meshes, oldest first, in the shape asm_mesh returns as C(mesh).
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Mesh id., type: str, returned: always, sample: c08ba3fd1e6484b0f8cc1ad8fe10d4cbd}
    name: {description: Mesh name., type: str, returned: always, sample: mesh-1}
    region_id: {description: Region., type: str, returned: always, sample: cn-hangzhou}
    state: {description: Mesh state., type: str, returned: always, sample: running}
    version: {description: ASM version., type: str, returned: always, sample: v1.22.6.71-g7d67a80b-aliyun}
    cluster_spec: {description: Instance specification., type: str, returned: always, sample: standard}
    vpc_id: {description: VPC id., type: str, returned: always, sample: vpc-bp1drlab0000000000001}
    vswitches: {description: vSwitch ids., type: list, elements: str, returned: always}
    endpoints: {description: API server and Pilot endpoints., type: dict, returned: always}
    clusters:
      description: Member clusters (C(id), C(name), C(region_id), C(state), C(cluster_type), C(vpc_id)).
      type: list
      elements: dict
      returned: always
    features:
      description: Mesh features (locality load balancing and its config, CR aggregation, telemetry, access log).
      type: dict
      returned: always
'''

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import AlibabaCloudModule, AlicloudError
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import common as asm_common
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import mesh as mesh_util
from ansible_collections.meshdr.alicloud.plugins.module_utils.validation import fail_on_problems


def main():
    argument_spec = dict(
        name=dict(type='str'),
        mesh_id=dict(type='str'),
        include_clusters=dict(type='bool', default=True),
    )
    module = AlibabaCloudModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    # A name no mesh can have (the rules asm_mesh creates by) is a mistake, not an empty answer.
    fail_on_problems(module, [mesh_util.mesh_name_error(params['name'])] if params['name'] is not None else [])
    meshes = []
    try:
        for entry in asm_common.find_meshes(module, name=params['name'], mesh_id=params['mesh_id'],
                                            region_id=params['region_id']):
            mesh_id = entry['ServiceMeshInfo']['ServiceMeshId']
            # None: deleted between the list and the detail call (mesh_util.MESH_GONE_CODES says what counts).
            detail = mesh_util.describe_mesh(module, mesh_id)
            if detail is None:
                continue
            clusters = None
            if params['include_clusters']:
                try:
                    clusters = module.call('servicemesh', 'DescribeClustersInServiceMesh',
                                           ServiceMeshId=mesh_id).get('Clusters') or []
                except AlicloudError as err:
                    if mesh_util.mesh_gone(module, err, mesh_id):
                        continue
                    raise
            meshes.append(mesh_util.normalise_mesh(detail, clusters))
    except AlicloudError as err:
        module.fail_api(err, msg='listing service meshes')
    module.exit_json(changed=False, meshes=meshes)


if __name__ == '__main__':
    main()
