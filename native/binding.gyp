{
  'targets': [
    {
      'target_name': 'flowdemux_host',
      'sources': ['host.c'],
      'cflags': ['-O2', '-Wall', '-Wextra'],
      'conditions': [['OS!="linux"', { 'type': 'none', 'sources': [] }]],
    },
  ],
}
